# Only the containers: values are added out of band, so they never enter code, variables or state.

module "secrets" {
  source     = "../modules/secrets"
  project_id = var.settings.project_id
  labels     = var.labels
  secrets = {
    gemini-api-key = {
      accessors = { ml-service = local._members.ml_service }
    }
  }
  depends_on = [google_project_service.api, module.iam]
}
