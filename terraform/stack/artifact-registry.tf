module "artifact_registry" {
  source        = "../modules/artifact-registry"
  project_id    = var.settings.project_id
  location      = var.settings.region
  repository_id = var.settings.artifact_registry.repository
  labels        = var.labels
  kms_key_name  = local._kms_keys["artifact-registry"]
  cleanup = {
    delete_untagged_after_days = var.settings.artifact_registry.delete_untagged_after_days
    keep_recent_versions       = var.settings.artifact_registry.keep_recent_versions
  }
  readers    = local._promotion_readers
  writers    = { deployer = local._members.deployer }
  depends_on = [google_project_service.api, module.iam, module.kms]
}
