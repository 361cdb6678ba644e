locals {
  # Both ids must match: a token from any other repository, or from a repository
  # that took over the name after a rename or transfer, is refused at the pool.
  attribute_condition = join(" && ", [
    "assertion.repository_id == \"${var.github.repository_id}\"",
    "assertion.repository_owner_id == \"${var.github.owner_id}\"",
  ])
  _principal_set = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.pool.name}"
}

resource "google_iam_workload_identity_pool" "pool" {
  project                   = var.project_id
  workload_identity_pool_id = var.pool_id
  display_name              = "GitHub Actions"
  description               = "Keyless federation for ${var.github.repository}."
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125:The condition pins the immutable repository_id and repository_owner_id, which a renamed or re-registered repository cannot forge; an `assertion.sub ==` name match is weaker and would also lock out pull-request plans
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.pool.workload_identity_pool_id
  workload_identity_pool_provider_id = var.provider_id
  display_name                       = "GitHub Actions OIDC"
  attribute_condition                = local.attribute_condition
  attribute_mapping = {
    "google.subject"                = "assertion.sub"
    "attribute.ref"                 = "assertion.ref"
    "attribute.repository"          = "assertion.repository"
    "attribute.repository_id"       = "assertion.repository_id"
    "attribute.repository_owner_id" = "assertion.repository_owner_id"
    "attribute.repository_ref"      = "assertion.repository_id + '@' + assertion.ref"
  }
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account_iam_member" "workload_identity_user" {
  for_each           = var.identities
  service_account_id = each.value.service_account
  role               = "roles/iam.workloadIdentityUser"
  member = (
    each.value.ref == null
    ? "${local._principal_set}/attribute.repository_id/${var.github.repository_id}"
    : "${local._principal_set}/attribute.repository_ref/${var.github.repository_id}@${each.value.ref}"
  )
}
