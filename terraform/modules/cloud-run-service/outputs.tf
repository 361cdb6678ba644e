output "id" {
  description = "Fully qualified service id."
  value       = google_cloud_run_v2_service.service.id
}

output "location" {
  description = "Region of the service."
  value       = google_cloud_run_v2_service.service.location
}

output "name" {
  description = "Service name."
  value       = google_cloud_run_v2_service.service.name
}

output "service_account" {
  description = "Runtime service account email."
  value       = var.service_account
}

output "uri" {
  description = "HTTPS URL of the service."
  value       = google_cloud_run_v2_service.service.uri
}
