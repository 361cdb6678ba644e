# Cloud Audit Logs: Data Access logs (ADMIN_READ, DATA_READ, DATA_WRITE) for every
# service that holds or moves health data or its keys, and a log bucket that keeps
# every audit log entry for settings.json's retention, locked where it says so.

locals {
  # Firestore's Data Access logs are configured under datastore.googleapis.com; the
  # entries then name firestore.googleapis.com (cloud.google.com/firestore/docs/audit-logging).
  _audited_services = [
    "cloudkms.googleapis.com",
    "datastore.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
  ]
}

module "audit_logs" {
  source               = "../modules/audit-logs"
  project_id           = var.settings.project_id
  location             = var.settings.region
  retention_days       = var.settings.compliance.audit_logs.retention_days
  locked               = var.settings.compliance.audit_logs.locked
  data_access_services = var.settings.compliance.audit_logs.data_access ? toset(local._audited_services) : toset([])
  depends_on           = [google_project_service.api]
}
