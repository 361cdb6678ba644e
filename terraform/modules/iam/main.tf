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
  _id_token_creators = merge([
    for id, sa in var.service_accounts : {
      for creator in sa.id_token_creators : "${id} ${creator}" => { account = id, creator = creator }
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

# OpenID token creator, not token creator: it grants iam.serviceAccounts.getOpenIdToken and
# nothing else (no access tokens, no signBlob/signJwt), on this account only. The deployer
# holds it on itself because in CI it is the deployer that asks for its own ID tokens.
resource "google_service_account_iam_member" "id_token_creator" {
  for_each           = local._id_token_creators
  service_account_id = google_service_account.account[each.value.account].name
  role               = "roles/iam.serviceAccountOpenIdTokenCreator"
  member             = google_service_account.account[each.value.creator].member
}
