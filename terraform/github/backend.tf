# The GitHub side has a state of its own, beside the environments' in the same bucket
# (terraform/README.md, Bootstrapping): one prefix per root.
terraform {
  backend "gcs" {
    bucket = "clarity-loop-terraform-state"
    prefix = "github"
  }
}
