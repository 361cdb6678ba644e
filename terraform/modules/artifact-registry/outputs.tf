output "id" {
  description = "Fully qualified repository id."
  value       = google_artifact_registry_repository.repository.id
}

output "url" {
  description = "Image path prefix: LOCATION-docker.pkg.dev/PROJECT/REPOSITORY."
  value       = "${var.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.repository.repository_id}"
}
