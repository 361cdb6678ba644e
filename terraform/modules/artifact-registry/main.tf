resource "google_artifact_registry_repository" "repository" {
  project                = var.project_id
  location               = var.location
  repository_id          = var.repository_id
  format                 = "DOCKER"
  description            = "Container images of the Clarity Loop services."
  labels                 = var.labels
  cleanup_policy_dry_run = var.cleanup.dry_run
  # Artifact Registry takes a key only when it creates a repository.
  kms_key_name = var.kms_key_name

  cleanup_policies {
    id     = "keep-recent-versions"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.cleanup.keep_recent_versions
    }
  }
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "${var.cleanup.delete_untagged_after_days * 86400}s"
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "reader" {
  for_each   = var.readers
  project    = var.project_id
  location   = var.location
  repository = google_artifact_registry_repository.repository.name
  role       = "roles/artifactregistry.reader"
  member     = each.value
}

resource "google_artifact_registry_repository_iam_member" "writer" {
  for_each   = var.writers
  project    = var.project_id
  location   = var.location
  repository = google_artifact_registry_repository.repository.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}
