# The execution role SageMaker assumes for the alternate backend (serving/sagemaker.py EndpointSpec.role_arn):
# read release archives, pull the serving images, write the endpoint's CloudWatch logs. Nothing else.

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker_execution" {
  name                 = "${local.name}-sagemaker-execution"
  description          = "SageMaker endpoints serving Teller releases"
  assume_role_policy   = data.aws_iam_policy_document.sagemaker_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "sagemaker_execution" {
  statement {
    sid       = "ReadReleaseArchives"
    actions   = ["s3:GetObject"]
    resources = [local.releases_objects]
  }

  statement {
    sid       = "DecryptReleasesThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.releases.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  # GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" for it.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullServingImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.this["teller-serving"].arn, aws_ecr_repository.this["teller-serving-gpu"].arn]
  }

  statement {
    sid       = "EndpointLogGroups"
    actions   = ["logs:CreateLogGroup", "logs:DescribeLogStreams"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/*"]
  }

  statement {
    sid       = "EndpointLogStreams"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/*:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "sagemaker_execution" {
  name   = "serve-releases"
  role   = aws_iam_role.sagemaker_execution.id
  policy = data.aws_iam_policy_document.sagemaker_execution.json
}
