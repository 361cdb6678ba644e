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
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local._accessors
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}
