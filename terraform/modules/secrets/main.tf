locals {
  _accessors = merge([
    for id, secret in var.secrets : {
      for key, member in secret.accessors : "${id} ${key}" => { secret = id, member = member }
    }
  ]...)
}

resource "google_secret_manager_secret" "secret" {
  for_each  = var.secrets
  project   = var.project_id
  secret_id = each.key
  labels    = merge(var.labels, each.value.labels)
  # Automatic replication takes only a key in `global`; with a key, each secret is
  # kept in one region, beside the key and the data it serves.
  replication {
    dynamic "auto" {
      for_each = var.replica_location == null ? [""] : []
      content {}
    }
    dynamic "user_managed" {
      for_each = var.replica_location == null ? [] : [var.replica_location]
      content {
        replicas {
          location = user_managed.value
          dynamic "customer_managed_encryption" {
            for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
            content {
              kms_key_name = customer_managed_encryption.value
            }
          }
        }
      }
    }
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local._accessors
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
