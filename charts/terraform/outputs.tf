# What the chart, the pipelines and the SageMaker deploy need from this stack. No output carries a secret:
# the audit database is referenced by its Secrets Manager ARN, never by its password.

locals {
  ecr_repository_urls = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }

  # The account-specific keys of charts/teller/values-eks.yaml, from this stack. Layer it over values-eks.yaml:
  #   terraform output -raw helm_values > values-eks.generated.yaml
  #   helm upgrade --install teller charts/teller -n <serving_namespace> \
  #     -f charts/teller/values-eks.yaml -f values-eks.generated.yaml
  helm_values = {
    image = {
      repository = local.ecr_repository_urls["teller-serving"]
    }
    model = {
      releasesUri = local.releases_uri
    }
    gpu = {
      image = {
        repository = local.ecr_repository_urls["teller-serving-gpu"]
      }
      nodeSelector = {
        "eks.amazonaws.com/nodegroup"      = aws_eks_node_group.gpu.node_group_name
        "node.kubernetes.io/instance-type" = var.gpu_instance_type
      }
      tolerations = [
        {
          key      = local.gpu_taint.key
          operator = "Exists"
          effect   = "NoSchedule"
        },
      ]
    }
    database = {
      postgres = {
        enabled = false
      }
      existingSecret = var.audit_db_k8s_secret
      key            = "url"
    }
    serviceAccount = {
      # The IRSA trust names this ServiceAccount; pinning the name keeps them equal whatever the release name.
      name = var.serving_service_account
      annotations = {
        "eks.amazonaws.com/role-arn" = aws_iam_role.serving.arn
      }
    }
  }

  # External Secrets Operator objects that build the chart's database URL Secret from the RDS-managed secret.
  # The operator's ServiceAccount is annotated with external_secrets_role_arn; the store then needs no keys.
  cluster_secret_store = {
    apiVersion = "external-secrets.io/v1"
    kind       = "ClusterSecretStore"
    metadata   = { name = "${local.name}-secrets-manager" }
    spec = {
      provider = {
        aws = {
          service = "SecretsManager"
          region  = var.region
        }
      }
    }
  }
  audit_db_external_secret = {
    apiVersion = "external-secrets.io/v1"
    kind       = "ExternalSecret"
    metadata   = { name = var.audit_db_k8s_secret, namespace = var.serving_namespace }
    spec = {
      refreshInterval = "1h" # Secrets Manager rotates the password; the Secret follows within the hour
      secretStoreRef  = { kind = "ClusterSecretStore", name = "${local.name}-secrets-manager" }
      target = {
        name           = var.audit_db_k8s_secret
        creationPolicy = "Owner"
        template = {
          engineVersion = "v2"
          data = {
            url = "postgresql+psycopg://{{ .username }}:{{ .password | urlquery }}@${aws_db_instance.audit.address}:${aws_db_instance.audit.port}/${local.db_name}?sslmode=require"
          }
        }
      }
      dataFrom = [{ extract = { key = aws_db_instance.audit.master_user_secret[0].secret_arn } }]
    }
  }
}

output "helm_values" {
  description = "YAML of the values-eks.yaml keys this stack owns: image repositories, releasesUri, GPU scheduling, the database Secret and the IRSA annotation."
  value       = yamlencode(local.helm_values)
}

output "region" {
  description = "AWS region of the stack."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name}"
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster (for further IRSA roles)."
  value       = aws_iam_openid_connect_provider.eks.arn
}

output "serving_role_arn" {
  description = "IRSA role of the predictor: values serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]."
  value       = aws_iam_role.serving.arn
}

output "pipelines_role_arn" {
  description = "IRSA role to annotate the Kubeflow Pipelines runner ServiceAccount with."
  value       = aws_iam_role.pipelines.arn
}

output "external_secrets_role_arn" {
  description = "IRSA role to annotate the External Secrets Operator ServiceAccount with."
  value       = aws_iam_role.external_secrets.arn
}

output "sagemaker_execution_role_arn" {
  description = "Execution role for SageMaker endpoints (teller deploy sagemaker --role-arn)."
  value       = aws_iam_role.sagemaker_execution.arn
}

output "ecr_repository_urls" {
  description = "ECR repository URL per image: teller-serving (values image.repository), teller-serving-gpu (gpu.image.repository), teller-training."
  value       = local.ecr_repository_urls
}

output "releases_bucket" {
  description = "Name of the release bucket."
  value       = aws_s3_bucket.releases.bucket
}

output "releases_uri" {
  description = "Release root the chart serves from: values model.releasesUri."
  value       = local.releases_uri
}

output "mlflow_artifacts_uri" {
  description = "Default artifact root for the MLflow server (mlflow server --default-artifact-root)."
  value       = "s3://${aws_s3_bucket.releases.bucket}/${var.mlflow_artifacts_prefix}"
}

output "audit_db_endpoint" {
  description = "Host name of the audit database (private subnets only)."
  value       = aws_db_instance.audit.address
}

output "audit_db_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the audit database's username and password (the ARN, not the secret)."
  value       = aws_db_instance.audit.master_user_secret[0].secret_arn
}

output "audit_db_k8s_secret" {
  description = "Kubernetes Secret (key url) the chart reads the database URL from: values database.existingSecret."
  value       = var.audit_db_k8s_secret
}

output "audit_db_external_secret_manifests" {
  description = "ClusterSecretStore and ExternalSecret (YAML, kubectl apply -f -) that build database.existingSecret from the RDS-managed secret."
  value       = "${yamlencode(local.cluster_secret_store)}---\n${yamlencode(local.audit_db_external_secret)}"
}
