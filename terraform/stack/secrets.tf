# Only the containers: values are added out of band, so they never enter code, variables or state.

module "secrets" {
  source     = "../modules/secrets"
  project_id = var.settings.project_id
  labels     = var.labels
  # With a customer-managed key, secrets stay in the key's region (see modules/secrets).
  kms_key_name     = local._kms_keys["secret-manager"]
  replica_location = local._cmek ? var.settings.region : null
  secrets = {
    gemini-api-key = {
      accessors = { ml-service = local._members.ml_service }
    }
  }
  depends_on = [google_project_service.api, module.iam, module.kms]
}
