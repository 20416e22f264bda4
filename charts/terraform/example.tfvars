# terraform plan -var-file=example.tfvars: a production stack in us-east-1 with the defaults spelled out.
region             = "us-east-1"
environment        = "prod"
availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
vpc_cidr           = "10.40.0.0/16"

# The API endpoint stays private: run terraform/kubectl from inside the VPC (VPN, bastion, CI runner).
eks_endpoint_public_access   = false
cluster_admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admins"]

cpu_instance_types = ["m6i.2xlarge"]
cpu_node_count     = { min = 2, desired = 3, max = 6 }
gpu_instance_type  = "g5.xlarge"
gpu_node_count     = { min = 2, desired = 2, max = 10 }

db_instance_class        = "db.m6g.large"
db_multi_az              = true
db_backup_retention_days = 14

tags = {
  cost-centre         = "customer-service"
  data-classification = "confidential"
}
