output "ids" {
  description = "Fully qualified secret ids, by secret id."
  value       = { for k, v in google_secret_manager_secret.secret : k => v.id }
}

output "names" {
  description = "Secret ids, by secret id, for Cloud Run secret references."
  value       = { for k, v in google_secret_manager_secret.secret : k => v.secret_id }
}
