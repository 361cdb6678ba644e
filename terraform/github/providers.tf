# Credentials come from the environment only: GITHUB_TOKEN holds a GitHub App installation
# token or a fine-grained personal access token (README.md says which permissions). Nothing
# secret is written here or passed as a variable.
provider "github" {
  owner = local._owner
}
