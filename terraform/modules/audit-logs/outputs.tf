output "bucket" {
  description = "Fully qualified id of the log bucket that keeps the audit logs."
  value       = google_logging_project_bucket_config.audit.id
}

output "data_access_services" {
  description = "Services whose Data Access audit logs (ADMIN_READ, DATA_READ, DATA_WRITE) are on."
  value       = sort([for config in google_project_iam_audit_config.data_access : config.service])
}

output "sink" {
  description = "Id of the sink that routes the audit logs into the bucket."
  value       = google_logging_project_sink.audit.id
}
