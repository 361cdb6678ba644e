module "firestore" {
  source                 = "../modules/firestore"
  project_id             = var.settings.project_id
  location               = var.settings.region
  delete_protection      = var.settings.deletion_protection
  point_in_time_recovery = var.settings.backup_enabled
  kms_key_name           = local._kms_keys["firestore"]
  # Firestore keeps daily backups for at most 14 weeks.
  backup_retention_days = var.settings.backup_enabled ? min(var.settings.retention_days, 98) : null
  indexes = {
    users-email-created-at = {
      collection = "users"
      fields = [
        { field_path = "email" },
        { field_path = "created_at", order = "DESCENDING" },
      ]
    }
    health-data-user-timestamp-type = {
      collection = "health_data"
      fields = [
        { field_path = "user_id" },
        { field_path = "timestamp", order = "DESCENDING" },
        { field_path = "data_type" },
      ]
    }
  }
  # Synthetic batches (the end-to-end checks' test traffic) carry expire_at on their record, samples
  # and insight; nothing else does. Firestore deletes them a day after ingestion.
  ttl_fields = {
    for collection in ["ingestion_batches", "health_data", "insights"] :
    collection => { collection = collection, field = "expire_at" }
  }
  depends_on = [google_project_service.api, module.kms]
}
