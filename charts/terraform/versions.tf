# Teller's AWS foundation: network, EKS (CPU + GPU node groups), IRSA roles, release bucket, ECR, RDS audit
# store and the SageMaker execution role. State holds resource IDs and ARNs only (the database password is
# generated and kept by Secrets Manager), but it still belongs in an encrypted, access-controlled backend.
terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # Partial configuration: bucket, key and region come from `terraform init -backend-config=...`.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "app.kubernetes.io/part-of" = "teller"
      environment                 = var.environment
      managed-by                  = "terraform"
    })
  }
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  name         = "${var.name}-${var.environment}"
  cluster_name = local.name
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  dns_suffix   = data.aws_partition.current.dns_suffix
}
