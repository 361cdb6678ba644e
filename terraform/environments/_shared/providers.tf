provider "google" {
  project = local.settings.project_id
  region  = local.settings.region
  # Budgets and other billing-scoped APIs bill their quota to the project,
  # not to the caller's client project.
  billing_project       = local.settings.project_id
  user_project_override = true
  default_labels        = local.labels
}
