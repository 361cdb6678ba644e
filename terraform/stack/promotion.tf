# Prod promotes what staging verified: its deployer reads this environment's services (the
# release records on them) and copies the images by digest from this repository. Each project
# in settings.json `promotion_targets` gets both read grants for its deployer, nothing more.
locals {
  _promotion_readers = {
    for project in var.settings.promotion_targets :
    project => "serviceAccount:${local._accounts.deployer}@${project}.iam.gserviceaccount.com"
  }
}

resource "google_project_iam_member" "promotion_reader" {
  for_each = local._promotion_readers
  project  = var.settings.project_id
  role     = "roles/run.viewer"
  member   = each.value
}
