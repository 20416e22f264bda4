# IRSA roles: each trusts exactly one Kubernetes ServiceAccount through the cluster's OIDC provider.
#   serving          the predictor (chart serviceAccount): read releases/
#   pipelines        Kubeflow Pipelines runs: read/write releases/ and the MLflow artifact prefix
#   external_secrets External Secrets Operator: read the audit database's master secret to build the URL Secret

locals {
  oidc_issuer = replace(aws_iam_openid_connect_provider.eks.url, "https://", "")

  irsa_subjects = {
    serving          = "system:serviceaccount:${var.serving_namespace}:${var.serving_service_account}"
    pipelines        = "system:serviceaccount:${var.pipelines_namespace}:${var.pipelines_service_account}"
    external_secrets = "system:serviceaccount:${var.external_secrets_namespace}:${var.external_secrets_service_account}"
  }

  releases_objects = "${aws_s3_bucket.releases.arn}/${local.releases_prefix}/*"
  mlflow_objects   = "${aws_s3_bucket.releases.arn}/${var.mlflow_artifacts_prefix}/*"
  s3_via_service   = "s3.${var.region}.${local.dns_suffix}"
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = [each.value]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

# -- The predictor: values-eks.yaml serviceAccount.annotations["eks.amazonaws.com/role-arn"]

resource "aws_iam_role" "serving" {
  name                 = "${local.name}-serving"
  description          = "Teller predictor (IRSA ${local.irsa_subjects.serving}): read releases"
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume["serving"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "serving" {
  statement {
    sid       = "ListReleases"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.releases.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.releases_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadReleases"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
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
}

resource "aws_iam_role_policy" "serving" {
  name   = "read-releases"
  role   = aws_iam_role.serving.id
  policy = data.aws_iam_policy_document.serving.json
}

# -- Pipelines: publish releases and log MLflow artifacts

resource "aws_iam_role" "pipelines" {
  name                 = "${local.name}-pipelines"
  description          = "Teller pipelines (IRSA ${local.irsa_subjects.pipelines}): read/write releases and MLflow artifacts"
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume["pipelines"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "pipelines" {
  statement {
    sid       = "ListReleasesAndArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.releases.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.releases_prefix}/*", "${var.mlflow_artifacts_prefix}/*"]
    }
  }

  # Releases are written once and never deleted by a pipeline (versioning keeps any overwrite).
  statement {
    sid       = "ReadWriteReleasesAndArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [local.releases_objects, local.mlflow_objects]
  }

  # MLflow removes the artifacts of deleted runs.
  statement {
    sid       = "DeleteMlflowArtifacts"
    actions   = ["s3:DeleteObject"]
    resources = [local.mlflow_objects]
  }

  statement {
    sid       = "UseReleasesKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.releases.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

resource "aws_iam_role_policy" "pipelines" {
  name   = "read-write-releases"
  role   = aws_iam_role.pipelines.id
  policy = data.aws_iam_policy_document.pipelines.json
}

# -- External Secrets Operator: turns the RDS-managed master secret into the chart's URL Secret

resource "aws_iam_role" "external_secrets" {
  name                 = "${local.name}-external-secrets"
  description          = "External Secrets (IRSA ${local.irsa_subjects.external_secrets}): read the audit database secret"
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume["external_secrets"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid       = "ReadAuditDbSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_db_instance.audit.master_user_secret[0].secret_arn]
  }

  statement {
    sid       = "DecryptThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.rds.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.${local.dns_suffix}"]
    }
  }
}

resource "aws_iam_role_policy" "external_secrets" {
  name   = "read-audit-db-secret"
  role   = aws_iam_role.external_secrets.id
  policy = data.aws_iam_policy_document.external_secrets.json
}
