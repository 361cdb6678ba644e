# One state bucket for every environment, one prefix each (see terraform/README.md
# for bootstrapping the bucket).
terraform {
  backend "gcs" {
    bucket = "clarity-loop-terraform-state"
    prefix = "environments/prod"
  }
}
