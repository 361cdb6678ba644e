# Time-to-live policies: Firestore deletes documents whose TTL timestamp has passed.
resource "google_firestore_field" "ttl" {
  for_each   = var.ttl_fields
  project    = var.project_id
  database   = google_firestore_database.database.name
  collection = each.value.collection
  field      = each.value.field
  # A TTL timestamp is never queried; indexing it would only add write load on one hot range.
  index_config {}
  ttl_config {}
}
