# The audit store: PostgreSQL on RDS in the private subnets, reachable only from the EKS nodes and pods,
# encrypted at rest (RDS key) and in transit (rds.force_ssl), with PITR backups, IAM auth, enhanced monitoring,
# Performance Insights and its logs in CloudWatch. The master password is generated, stored and rotated by
# Secrets Manager (manage_master_user_password): it never appears in variables, state or outputs.

locals {
  db_identifier = "${local.name}-audit"
  db_family     = "postgres${split(".", var.db_engine_version)[0]}"
  db_name       = "teller"
  db_username   = "teller"
  db_port       = 5432
}

resource "aws_db_subnet_group" "audit" {
  name       = local.db_identifier
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "audit_db" {
  name        = "${local.db_identifier}-db"
  description = "Audit database: PostgreSQL from the EKS cluster only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.db_identifier}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "audit_db_from_eks" {
  security_group_id            = aws_security_group.audit_db.id
  description                  = "PostgreSQL from EKS nodes and pods (cluster security group)"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

resource "aws_db_parameter_group" "audit" {
  name_prefix = "${local.db_identifier}-"
  family      = local.db_family
  description = "Audit database: TLS only, DDL and slow-statement logging"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Schema changes and statements slower than 1 s; not every statement (rows are masked, but keep logs lean).
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Enhanced monitoring publishes OS metrics through this role.
data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.db_identifier}-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# RDS writes exported logs to these names; creating them first sets retention and encryption.
resource "aws_cloudwatch_log_group" "audit_db" {
  for_each = toset(["postgresql", "upgrade"])

  name              = "/aws/rds/instance/${local.db_identifier}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_db_instance" "audit" {
  identifier     = local.db_identifier
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  port           = local.db_port

  db_name                       = local.db_name
  username                      = local.db_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.rds.arn

  allocated_storage     = var.db_allocated_storage_gib
  max_allocated_storage = var.db_allocated_storage_gib * 10
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.rds.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.audit.name
  vpc_security_group_ids = [aws_security_group.audit_db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.audit.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.db_identifier}-final"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.rds.arn
  performance_insights_retention_period = 7

  depends_on = [aws_cloudwatch_log_group.audit_db, aws_iam_role_policy_attachment.rds_monitoring]
}
