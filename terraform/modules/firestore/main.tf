resource "google_firestore_database" "database" {
  project                           = var.project_id
  name                              = var.database_id
  location_id                       = var.location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  delete_protection_state           = var.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.delete_protection ? "ABANDON" : "DELETE"
  point_in_time_recovery_enablement = var.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"

  # Firestore takes a key only when it creates a database (terraform/README.md says
  # how an existing one moves to a customer-managed key).
  dynamic "cmek_config" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = cmek_config.value
    }
  }
}

resource "google_firestore_index" "index" {
  for_each   = var.indexes
  project    = var.project_id
  database   = google_firestore_database.database.name
  collection = each.value.collection
  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}

resource "google_firestore_backup_schedule" "daily" {
  count     = var.backup_retention_days == null ? 0 : 1
  project   = var.project_id
  database  = google_firestore_database.database.name
  retention = "${var.backup_retention_days * 86400}s"
  daily_recurrence {}
}
