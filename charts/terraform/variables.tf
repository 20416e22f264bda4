# Every input has a type, a description and, where a bad value would only fail at apply time, a validation.

# -- Naming and placement

variable "region" {
  type        = string
  description = "AWS region for every resource, e.g. us-east-1."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1 or us-gov-west-1."
  }
}

variable "name" {
  type        = string
  description = "Prefix of every resource name (the cluster is <name>-<environment>)."
  default     = "teller"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3-20 characters: lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Deployment environment; part of resource names and tags."
  default     = "prod"

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags on every resource (cost centre, data classification, owner)."
  default     = {}
}

# -- Network

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC, /16 to /20; public subnets take /4 slices of it, private subnets /2 slices."
  default     = "10.40.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    )
    error_message = "vpc_cidr must be a valid IPv4 CIDR between /16 and /20."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Two or three zone names to spread subnets, NAT gateways and nodes over; empty takes <region>a, b and c."
  default     = []

  validation {
    condition = (
      (length(var.availability_zones) == 0 || (length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3)) &&
      length(distinct(var.availability_zones)) == length(var.availability_zones) &&
      alltrue([for z in var.availability_zones : can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9][a-z]$", z))])
    )
    error_message = "availability_zones must be empty or 2-3 distinct zone names such as us-east-1a (EKS and multi-AZ RDS need two)."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One shared NAT gateway instead of one per zone: cheaper, but a zone outage cuts egress for all."
  default     = false
}

# -- EKS

variable "eks_version" {
  type        = string
  description = "Kubernetes version of the EKS control plane (the chart needs 1.29 or newer)."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(29|3[0-9])$", var.eks_version))
    error_message = "eks_version must be a minor version from 1.29 on, e.g. 1.33."
  }
}

variable "eks_endpoint_public_access" {
  type        = bool
  description = "Expose the EKS API endpoint publicly (restricted to eks_public_access_cidrs); false keeps it VPC-only."
  default     = false
}

variable "eks_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach a public EKS API endpoint (e.g. the bank's egress ranges); never 0.0.0.0/0."
  default     = []

  validation {
    condition     = alltrue([for c in var.eks_public_access_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "eks_public_access_cidrs must be valid CIDRs and must not open the endpoint to the whole internet."
  }
}

variable "cluster_admin_principal_arns" {
  type        = list(string)
  description = "IAM role/user ARNs granted cluster-admin through EKS access entries (the creator is admin too)."
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "cluster_admin_principal_arns must be IAM role or user ARNs."
  }
}

variable "cpu_instance_types" {
  type        = list(string)
  description = "Instance types of the CPU node group (system add-ons, Knative/Istio, KubeRay, CPU predictors)."
  default     = ["m6i.2xlarge"]

  validation {
    condition = length(var.cpu_instance_types) > 0 && alltrue([
      for t in var.cpu_instance_types : can(regex("^(c|m|r)[5-8][a-fh-z]*\\.([0-9]*xlarge|large|metal)$", t))
    ])
    error_message = "cpu_instance_types must be x86_64 c/m/r types of the 5th generation or newer (the node AMI is AL2023 x86_64; no Graviton g types)."
  }
}

variable "cpu_node_count" {
  type = object({
    min     = number
    desired = number
    max     = number
  })
  description = "Size of the CPU node group: min <= desired <= max."
  default     = { min = 2, desired = 3, max = 6 }

  validation {
    condition = (
      var.cpu_node_count.min >= 1 && var.cpu_node_count.min <= var.cpu_node_count.desired &&
      var.cpu_node_count.desired <= var.cpu_node_count.max && var.cpu_node_count.max <= 50
    )
    error_message = "cpu_node_count needs 1 <= min <= desired <= max <= 50."
  }
}

variable "gpu_instance_type" {
  type        = string
  description = "Instance type of the GPU node group (NVIDIA A10G); the chart's GPU nodeSelector pins this type."
  default     = "g5.xlarge"

  validation {
    condition     = can(regex("^g5\\.(x|2x|4x|8x|12x|16x|24x|48x)large$", var.gpu_instance_type))
    error_message = "gpu_instance_type must be a g5 size, e.g. g5.xlarge."
  }
}

variable "gpu_node_count" {
  type = object({
    min     = number
    desired = number
    max     = number
  })
  description = "Size of the GPU node group: min <= desired <= max; one predictor replica takes one GPU."
  default     = { min = 2, desired = 2, max = 10 }

  validation {
    condition = (
      var.gpu_node_count.min >= 0 && var.gpu_node_count.min <= var.gpu_node_count.desired &&
      var.gpu_node_count.desired <= var.gpu_node_count.max && var.gpu_node_count.max <= 20
    )
    error_message = "gpu_node_count needs 0 <= min <= desired <= max <= 20."
  }
}

variable "node_disk_size_gib" {
  type        = number
  description = "Root volume size of every node in GiB (the CUDA serving image alone is several GiB)."
  default     = 100

  validation {
    condition     = var.node_disk_size_gib >= 50 && var.node_disk_size_gib <= 1000
    error_message = "node_disk_size_gib must be between 50 and 1000."
  }
}

# -- Kubernetes identities that get IAM roles (IRSA)

variable "serving_namespace" {
  type        = string
  description = "Namespace of the Helm release (the predictor's ServiceAccount lives there)."
  default     = "teller"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.serving_namespace))
    error_message = "serving_namespace must be a Kubernetes namespace name."
  }
}

variable "serving_service_account" {
  type        = string
  description = "Predictor ServiceAccount name: the chart's fullname (the release name, `teller`, by default)."
  default     = "teller"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.serving_service_account))
    error_message = "serving_service_account must be a Kubernetes object name."
  }
}

variable "pipelines_namespace" {
  type        = string
  description = "Namespace where Kubeflow Pipelines runs the training and KB pipelines."
  default     = "kubeflow"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.pipelines_namespace))
    error_message = "pipelines_namespace must be a Kubernetes namespace name."
  }
}

variable "pipelines_service_account" {
  type        = string
  description = "ServiceAccount the pipeline pods run as (KFP's default is pipeline-runner)."
  default     = "pipeline-runner"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.pipelines_service_account))
    error_message = "pipelines_service_account must be a Kubernetes object name."
  }
}

variable "external_secrets_namespace" {
  type        = string
  description = "Namespace of the External Secrets Operator that syncs the audit database secret into the cluster."
  default     = "external-secrets"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.external_secrets_namespace))
    error_message = "external_secrets_namespace must be a Kubernetes namespace name."
  }
}

variable "external_secrets_service_account" {
  type        = string
  description = "ServiceAccount of the External Secrets Operator controller."
  default     = "external-secrets"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.external_secrets_service_account))
    error_message = "external_secrets_service_account must be a Kubernetes object name."
  }
}

# -- Releases and images

variable "releases_bucket_name" {
  type        = string
  description = "Name of the release bucket; empty derives <name>-models-<environment>-<account id>."
  default     = ""

  validation {
    condition     = var.releases_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,48}[a-z0-9]$", var.releases_bucket_name))
    error_message = "releases_bucket_name must be a valid S3 bucket name of at most 50 characters (room for the log bucket suffix)."
  }
}

variable "mlflow_artifacts_prefix" {
  type        = string
  description = "Key prefix in the release bucket for MLflow run artifacts (pipelines read and write it)."
  default     = "mlflow"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.mlflow_artifacts_prefix)) && var.mlflow_artifacts_prefix != "releases"
    error_message = "mlflow_artifacts_prefix must be a single path segment other than releases."
  }
}

variable "ecr_keep_tagged_images" {
  type        = number
  description = "How many tagged images each ECR repository keeps (older ones expire; rollbacks need a few)."
  default     = 50

  validation {
    condition     = var.ecr_keep_tagged_images >= 5 && var.ecr_keep_tagged_images <= 1000
    error_message = "ecr_keep_tagged_images must be between 5 and 1000."
  }
}

# -- Audit database

variable "db_instance_class" {
  type        = string
  description = "RDS instance class of the audit database."
  default     = "db.m6g.large"

  validation {
    condition     = can(regex("^db\\.(t4g|m[5-8][a-z]*|r[5-8][a-z]*)\\.[0-9]*x?large$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS class such as db.m6g.large or db.r6g.xlarge."
  }
}

variable "db_engine_version" {
  type        = string
  description = "PostgreSQL major (e.g. 16) or major.minor version; minors upgrade automatically."
  default     = "16"

  validation {
    condition     = can(regex("^1[5-8](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 15 to 18, e.g. 16 or 16.4."
  }
}

variable "db_allocated_storage_gib" {
  type        = number
  description = "Initial gp3 storage of the audit database in GiB; storage autoscaling grows it up to 10x."
  default     = 50

  validation {
    condition     = var.db_allocated_storage_gib >= 20 && var.db_allocated_storage_gib <= 6000
    error_message = "db_allocated_storage_gib must be between 20 and 6000."
  }
}

variable "db_multi_az" {
  type        = bool
  description = "Run the audit database with a synchronous standby in a second zone."
  default     = true
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days of automated backups (point-in-time recovery window) of the audit database."
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

variable "db_deletion_protection" {
  type        = bool
  description = "Refuse to delete the audit database (turn off deliberately before a destroy)."
  default     = true
}

variable "audit_db_k8s_secret" {
  type        = string
  description = "Kubernetes Secret (key `url`) the chart reads the audit database URL from: values' database.existingSecret."
  default     = "teller-audit-db"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.audit_db_k8s_secret))
    error_message = "audit_db_k8s_secret must be a Kubernetes object name."
  }
}

# -- Logs and keys

variable "log_retention_days" {
  type        = number
  description = "Retention of CloudWatch log groups (VPC flow, EKS control plane, RDS) and S3 access logs; at least a year."
  default     = 400

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 365 days."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before a scheduled KMS key deletion takes effect."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
