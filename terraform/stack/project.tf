# The project itself: its number (for service agents) and the APIs the stack uses.
locals {
  _services_apis = [
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sts.googleapis.com",
  ]
}

data "google_project" "project" {
  project_id = var.settings.project_id
}

resource "google_project_service" "api" {
  for_each           = toset(local._services_apis)
  project            = var.settings.project_id
  service            = each.value
  disable_on_destroy = false
}
