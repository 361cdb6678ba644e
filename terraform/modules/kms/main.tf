locals {
  _encrypters = merge([
    for purpose, key in var.keys : {
      for name, member in key.encrypters : "${purpose} ${name}" => { key = purpose, member = member }
    }
  ]...)
}

# Key rings cannot be deleted in Google Cloud; destroying one only forgets it.
resource "google_kms_key_ring" "ring" {
  project  = var.project_id
  name     = var.key_ring
  location = var.location
}

# One key per purpose. Destroying a key destroys every version after the scheduled
# duration, and with them every byte they protect, so Terraform may never plan it.
resource "google_kms_crypto_key" "key" {
  for_each                   = var.keys
  name                       = each.key
  key_ring                   = google_kms_key_ring.ring.id
  purpose                    = "ENCRYPT_DECRYPT"
  rotation_period            = var.rotation_period
  destroy_scheduled_duration = "${var.destroy_scheduled_days * 86400}s"
  labels                     = merge(var.labels, { purpose = each.key })

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}

# Only the role that wraps and unwraps data keys, on one key, for the identities
# that encrypt with it: never the key ring, never the project.
resource "google_kms_crypto_key_iam_member" "encrypter" {
  for_each      = local._encrypters
  crypto_key_id = google_kms_crypto_key.key[each.value.key].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value.member
}
