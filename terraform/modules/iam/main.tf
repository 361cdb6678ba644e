locals {
  _project_roles = merge([
    for id, sa in var.service_accounts : {
      for role in sa.project_roles : "${id} ${role}" => { account = id, role = role }
    }
  ]...)
  _users = merge([
    for id, sa in var.service_accounts : {
      for user in sa.users : "${id} ${user}" => { account = id, user = user }
    }
  ]...)
}

resource "google_service_account" "account" {
  for_each     = var.service_accounts
  project      = var.project_id
  account_id   = each.key
  display_name = each.value.display_name
  description  = each.value.description
}

resource "google_project_iam_member" "project" {
  for_each = local._project_roles
  project  = var.project_id
  role     = each.value.role
  member   = google_service_account.account[each.value.account].member
}

# serviceAccountUser is granted on the account itself, never on the project,
# so a deployer can attach only these accounts to the revisions it creates.
resource "google_service_account_iam_member" "user" {
  for_each           = local._users
  service_account_id = google_service_account.account[each.value.account].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.account[each.value.user].member
}
