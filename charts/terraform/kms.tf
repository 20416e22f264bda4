# One customer-managed key per concern, each rotated yearly: a leaked grant or a key policy mistake stays
# within one kind of data. The account administers every key and its IAM policies may grant use of it
# (the IRSA and SageMaker roles get exactly the use they need in iam.tf and sagemaker.tf).

locals {
  account_root = "arn:${local.partition}:iam::${local.account_id}:root"

  kms_account_statements = [
    {
      Sid       = "AccountAdministersKey"
      Effect    = "Allow"
      Principal = { AWS = local.account_root }
      Action = [
        "kms:CancelKeyDeletion", "kms:Create*", "kms:Delete*", "kms:Describe*", "kms:Disable*", "kms:Enable*",
        "kms:Get*", "kms:List*", "kms:Put*", "kms:Revoke*", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion",
        "kms:TagResource", "kms:UntagResource", "kms:Update*",
      ]
      Resource = "*" # in a key policy "*" is this key
    },
    {
      Sid       = "AccountIamPoliciesGrantUse"
      Effect    = "Allow"
      Principal = { AWS = local.account_root }
      Action = [
        "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*",
        "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant",
      ]
      Resource = "*"
    },
  ]
}

# EKS Secrets envelope encryption and the nodes' root volumes.
resource "aws_kms_key" "eks" {
  description             = "${local.name}: EKS secrets and node volumes"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.kms_account_statements, [
      {
        # As in the AWS-managed aws/ebs key: EC2 (and Auto Scaling launching node group instances through it)
        # may use the key for this account's volumes only.
        Sid       = "EbsThroughEc2InThisAccount"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          StringEquals = {
            "kms:CallerAccount" = local.account_id
            "kms:ViaService"    = "ec2.${var.region}.${local.dns_suffix}"
          }
        }
      },
    ])
  })
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${local.name}/eks"
  target_key_id = aws_kms_key.eks.key_id
}

# CloudWatch Logs: VPC flow logs, EKS control plane logs, RDS logs.
resource "aws_kms_key" "logs" {
  description             = "${local.name}: CloudWatch log groups"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.kms_account_statements, [
      {
        Sid       = "CloudWatchLogsForThisAccount"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.${local.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"
          }
        }
      },
    ])
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}/logs"
  target_key_id = aws_kms_key.logs.key_id
}

# The release bucket: model bundles, KB indexes and MLflow artifacts.
resource "aws_kms_key" "releases" {
  description             = "${local.name}: release bucket"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_account_statements })
}

resource "aws_kms_alias" "releases" {
  name          = "alias/${local.name}/releases"
  target_key_id = aws_kms_key.releases.key_id
}

# ECR image layers.
resource "aws_kms_key" "ecr" {
  description             = "${local.name}: ECR repositories"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_account_statements })
}

resource "aws_kms_alias" "ecr" {
  name          = "alias/${local.name}/ecr"
  target_key_id = aws_kms_key.ecr.key_id
}

# The audit database: storage, snapshots, Performance Insights and its Secrets Manager master secret.
resource "aws_kms_key" "rds" {
  description             = "${local.name}: audit database and its master secret"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_account_statements })
}

resource "aws_kms_alias" "rds" {
  name          = "alias/${local.name}/rds"
  target_key_id = aws_kms_key.rds.key_id
}
