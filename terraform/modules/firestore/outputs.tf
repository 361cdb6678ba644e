output "database" {
  description = "Database name (id)."
  value       = google_firestore_database.database.name
}

output "id" {
  description = "Fully qualified database id."
  value       = google_firestore_database.database.id
}

output "indexes" {
  description = "Composite index ids, by index name."
  value       = { for k, v in google_firestore_index.index : k => v.id }
}
