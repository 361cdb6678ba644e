# Customer-managed encryption keys, where settings.json turns them on: one key ring
# for the environment, one key per service that stores data, and on each key only
# that service's agent, granted encrypt and decrypt. Service agent names:
# cloud.google.com/firestore/docs/use-cmek, cloud.google.com/pubsub/docs/cmek,
# cloud.google.com/artifact-registry/docs/cmek, cloud.google.com/secret-manager/docs/cmek.

locals {
  _cmek = var.settings.compliance.cmek
  _service_agents = {
    artifact-registry = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    firestore         = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-firestore.iam.gserviceaccount.com"
    pubsub            = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    secret-manager    = "serviceAccount:service-${data.google_project.project.number}@gcp-sa-secretmanager.iam.gserviceaccount.com"
  }
  # The key of each purpose, or null where the environment keeps Google-managed keys.
  _kms_keys = { for purpose in keys(local._service_agents) : purpose => local._cmek ? module.kms[0].keys[purpose] : null }
}

module "kms" {
  source     = "../modules/kms"
  count      = local._cmek ? 1 : 0
  project_id = var.settings.project_id
  location   = var.settings.region
  key_ring   = "clarity-${var.settings.environment}"
  labels     = var.labels
  # Every key rotates at the module's default, every 90 days.
  keys = {
    for purpose, agent in local._service_agents : purpose => { encrypters = { service-agent = agent } }
  }
  depends_on = [google_project_service.api]
}
