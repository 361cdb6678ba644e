module "github_oidc" {
  source     = "../modules/github-oidc"
  project_id = var.settings.project_id
  github = {
    owner_id      = var.settings.github.owner_id
    repository    = var.settings.github.repository
    repository_id = var.settings.github.repository_id
  }
  identities = {
    deployer = {
      ref             = var.settings.github.apply_ref
      service_account = module.iam.ids[local._accounts.deployer]
    }
    terraform-apply = {
      ref             = var.settings.github.apply_ref
      service_account = module.iam.ids[local._accounts.tf_apply]
    }
    terraform-plan = {
      service_account = module.iam.ids[local._accounts.tf_plan]
    }
  }
  depends_on = [google_project_service.api]
}
