output "key_ring" {
  description = "Fully qualified key ring id."
  value       = google_kms_key_ring.ring.id
}

output "keys" {
  description = "Fully qualified key ids (projects/P/locations/L/keyRings/R/cryptoKeys/K), by purpose, for the kms_key_name arguments of the resources they protect."
  # Built from the inputs so the ids are known at plan time; iterating the resource
  # keeps the dependency on the key's creation.
  value = {
    for purpose, key in google_kms_crypto_key.key : purpose => "projects/${var.project_id}/locations/${var.location}/keyRings/${var.key_ring}/cryptoKeys/${purpose}"
  }
}
