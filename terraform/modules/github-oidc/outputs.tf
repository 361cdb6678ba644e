output "attribute_condition" {
  description = "The CEL condition every GitHub token must satisfy."
  value       = local.attribute_condition
}

output "pool_name" {
  description = "Fully qualified pool name."
  value       = google_iam_workload_identity_pool.pool.name
}

output "provider_name" {
  description = "Fully qualified provider name, the `workload_identity_provider` input of google-github-actions/auth."
  value       = google_iam_workload_identity_pool_provider.github.name
}
