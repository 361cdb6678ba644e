output "id" {
  description = "Budget id."
  value       = google_billing_budget.budget.id
}
