terraform {
  # Validation conditions that refer to other variables need Terraform 1.9 or later.
  required_version = ">= 1.9.0"
  required_providers {
    github = {
      source = "integrations/github"
      # Exactly the release whose schema the offline checks read (cdktf-cdktf-provider-github
      # 15.3.1 is generated from 6.9.0, terraform/tools/provider_schema/packages.py): move both
      # together.
      version = "6.9.0"
    }
  }
}
