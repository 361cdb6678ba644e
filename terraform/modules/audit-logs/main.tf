locals {
  # Every kind of audit log Google writes for the project: Admin Activity, Data Access,
  # System Event and Policy Denied.
  _audit_log_ids = [for kind in ["activity", "data_access", "system_event", "policy"] : "cloudaudit.googleapis.com/${kind}"]
}

# Data Access logs are off by default for every service but BigQuery; this turns on
# all three kinds (reads of configuration, reads of data, writes of data) per service.
resource "google_project_iam_audit_config" "data_access" {
  for_each = var.data_access_services
  project  = var.project_id
  service  = each.value
  audit_log_config {
    log_type = "ADMIN_READ"
  }
  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

# A bucket of its own: _Required keeps Admin Activity logs 400 days and cannot be
# changed, and _Default holds every application log too, which must not be kept for
# years. Locked, its retention can only grow and it cannot be deleted.
resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = var.location
  bucket_id      = var.bucket_id
  retention_days = var.retention_days
  locked         = var.locked
  description    = "Cloud Audit Logs of the project, kept ${var.retention_days} days."
}

# Copies every audit log entry into the bucket; _Required and _Default keep their own
# copies for their own retention.
resource "google_logging_project_sink" "audit" {
  project                = var.project_id
  name                   = var.sink_name
  description            = "Every Cloud Audit Log entry of the project, into ${var.bucket_id}."
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  filter                 = join(" OR ", [for id in local._audit_log_ids : "log_id(\"${id}\")"])
  unique_writer_identity = true
}
