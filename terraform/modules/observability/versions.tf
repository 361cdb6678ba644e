terraform {
  # Validation conditions that refer to other variables need Terraform 1.9 or later.
  required_version = ">= 1.9.0"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 7.0.0"
    }
  }
}
