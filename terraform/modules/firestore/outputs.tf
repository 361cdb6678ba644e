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

output "ttl_fields" {
  description = "TTL policy field ids, by policy name."
  value       = { for k, v in google_firestore_field.ttl : k => v.id }
}
