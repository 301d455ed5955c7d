import { createHash } from 'crypto';
import { providerPin } from '../config/provider-pins';
import * as fs from 'fs';
import * as path from 'path';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { durationSeconds } from '../config/units';
import { renderContinueConfig, renderMachineSettings, renderTabbyClientConfig } from '../render/code-server';

/**
 * The benchmark's peer: the workspaces stack written the way one would by hand in HCL
 * (for_each over a users map from users.auto.tfvars.json), with the same resources and
 * attributes the cdktf stack synthesizes (network, IDE container and nginx link per user,
 * image, home-volume guard, outputs). Generated into a temp dir by the benchmark only; it
 * is a yardstick, not a second product. A hand-written copy drifts when the constructs
 * change, so `npm run bench` compares its planned values with the cdktf plan's and says
 * so next to every ratio.
 */
export function writeHclPeer(dir: string, estate: EstateConfig, roster: Roster, stateDir: string, nginxIdOutput: string): void {
  const p = estate.name;
  const input = { extensions: estate.extensions, aiGatewayUrl: 'http://ai-gateway:8081', chatModelName: estate.models.chat.name };
  fs.mkdirSync(path.join(dir, 'files'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'files', 'settings.json'), renderMachineSettings(input));
  fs.writeFileSync(path.join(dir, 'files', 'continue.yaml'), renderContinueConfig(input));
  fs.writeFileSync(path.join(dir, 'files', 'tabby.toml'), renderTabbyClientConfig(input));
  const users = Object.fromEntries(roster.users.map((u) => [u.username, { state: u.state, cpus: u.resources.cpus, memory: u.resources.memory, disk: u.resources.disk }]));
  fs.writeFileSync(path.join(dir, 'users.auto.tfvars.json'), `${JSON.stringify({ users, retired: roster.retired }, null, 2)}\n`);
  const stateFile = `${stateDir}/terraform.workspaces.tfstate`;
  const transfer = estate.workspaces.allowFileTransfer ? '' : '"--disable-file-downloads", "--disable-file-uploads", ';
  const idle = estate.workspaces.idleTimeout ? `"--idle-timeout-seconds", "${durationSeconds(estate.workspaces.idleTimeout)}", ` : '';
  // The label that makes a healthcheck/tmpfs change recreate the container: the same formula as
  // HardenedContainer's fingerprint(), pasted as a constant the way a hand-written config would.
  const healthcheck = { test: ['CMD', 'curl', '-fsS', 'http://127.0.0.1:8080/healthz'], startPeriodSeconds: 30 };
  const recreateOn = createHash('sha256').update(JSON.stringify({ healthcheck, tmpfs: { '/tmp': 'rw,nosuid,nodev,size=512m' } })).digest('hex').slice(0, 16);
  fs.writeFileSync(
    path.join(dir, 'main.tf'),
    `terraform {
  required_providers {
    docker = { source = "kreuzwerker/docker", version = "${providerPin('docker').version}" }
    null   = { source = "hashicorp/null", version = "${providerPin('null').version}" }
  }
  backend "local" { path = ${JSON.stringify(stateFile)} }
}

provider "docker" { host = ${JSON.stringify(estate.dockerHost)} }
provider "null" {}

variable "users" {
  type = map(object({ state = string, cpus = number, memory = number, disk = number }))
}
variable "retired" { type = list(string) }

locals {
  active   = { for name, u in var.users : name => u if u.state != "archived" }
  recorded = try(jsondecode(file(${JSON.stringify(stateFile)})).outputs.home_volume_users.value, [])
  vanished = sort(tolist(setsubtract(toset(local.recorded), toset(concat(sort(keys(var.users)), var.retired)))))
}

data "terraform_remote_state" "platform" {
  backend   = "local"
  config    = { path = ${JSON.stringify(`${stateDir}/terraform.platform.tfstate`)} }
  workspace = terraform.workspace
}

resource "docker_image" "code_server" {
  name         = ${JSON.stringify(estate.images.codeServer)}
  keep_locally = true
}

resource "docker_network" "workspace" {
  for_each   = local.active
  name       = "${p}-ws-\${each.key}"
  driver     = "bridge"
  internal   = true
  attachable = false
  labels {
    label = "webide.component"
    value = "workspace-network"
  }
  labels {
    label = "webide.user"
    value = each.key
  }
}

resource "docker_container" "ide" {
  for_each   = local.active
  name       = "${p}-ide-\${each.key}"
  hostname   = "${p}-ide-\${each.key}"
  image      = docker_image.code_server.image_id
  user       = "1000:1000"
  entrypoint = ["/usr/local/bin/webide-ide-entrypoint"]
  command = ["--bind-addr", "0.0.0.0:8080", "--auth", "none", "--disable-telemetry", "--disable-update-check", ${transfer}${idle}
  "--extensions-dir", "/opt/code-server/extensions", "--user-data-dir", "/home/coder/.local/share/code-server", "/home/coder/project"]
  env           = ["EXTENSIONS_GALLERY={}", "HOME=/home/coder", "WEBIDE_USER=\${each.key}"]
  privileged    = false
  security_opts = ["no-new-privileges:true"]
  read_only     = false
  tmpfs         = { "/tmp" = "rw,nosuid,nodev,size=512m" }
  memory        = each.value.memory
  memory_swap   = each.value.memory
  cpu_period    = 100000
  cpu_quota     = floor(each.value.cpus * 100000 + 0.5)
  restart       = "unless-stopped"
  log_driver    = "json-file"
  log_opts      = { "max-file" = "5", "max-size" = "50m" }
  network_mode  = "bridge"
  capabilities {
    drop = ["ALL"]
  }
  networks_advanced {
    name = docker_network.workspace[each.key].name
  }
  mounts {
    type   = "volume"
    target = "/home/coder"
    source = "${p}-home-\${each.key}"
  }
  upload {
    file    = "/etc/webide/managed/machine-settings.json"
    content = file("\${path.module}/files/settings.json")
  }
  upload {
    file    = "/etc/webide/managed/continue-config.yaml"
    content = file("\${path.module}/files/continue.yaml")
  }
  upload {
    file    = "/etc/webide/managed/tabby-agent-config.toml"
    content = file("\${path.module}/files/tabby.toml")
  }
  healthcheck {
    test         = ["CMD", "curl", "-fsS", "http://127.0.0.1:8080/healthz"]
    interval     = "15s"
    timeout      = "5s"
    start_period = "30s"
    retries      = 5
  }
  dynamic "labels" {
    for_each = {
      "webide.component" = "workspace", "webide.cpu-limit" = tostring(each.value.cpus), "webide.disk-quota-mib" = tostring(each.value.disk),
      "webide.estate" = "${p}", "webide.profile" = "${estate.profile}", "webide.recreate-on" = "${recreateOn}", "webide.user" = each.key
    }
    content {
      label = labels.key
      value = labels.value
    }
  }
}

resource "null_resource" "nginx_link" {
  for_each = local.active
  triggers = {
    container    = "${p}-nginx"
    container_id = data.terraform_remote_state.platform.outputs.${nginxIdOutput}
    network      = docker_network.workspace[each.key].name
    alias        = "ai-gateway"
    docker_host  = ${JSON.stringify(estate.dockerHost)}
  }
  provisioner "local-exec" {
    command = ${JSON.stringify(NETWORK_CONNECT)}
    environment = {
      DOCKER_HOST = ${JSON.stringify(estate.dockerHost)}, NETWORK = docker_network.workspace[each.key].name, CONTAINER = "${p}-nginx", ALIAS = "ai-gateway"
    }
  }
  provisioner "local-exec" {
    when    = destroy
    command = ${JSON.stringify(NETWORK_DISCONNECT)}
    environment = {
      DOCKER_HOST = self.triggers.docker_host, NETWORK = self.triggers.network, CONTAINER = self.triggers.container
    }
  }
}

resource "null_resource" "home_volume_guard" {
  lifecycle {
    precondition {
      condition     = length(local.vanished) == 0
      error_message = "Users removed from the roster still have home volumes: \${join(", ", local.vanished)}."
    }
  }
}

output "home_volume_users" { value = sort(keys(var.users)) }
output "retained_volumes" { value = [for name in sort(keys(var.users)) : "${p}-home-\${name}"] }
`,
  );
}

// Copied from constructs/workspace-link.ts (a hand-written config would carry its own copy).
const NETWORK_CONNECT =
  'docker network connect --alias "$ALIAS" "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
  'docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" | tr " " "\\n" | grep -qx "$CONTAINER"';
const NETWORK_DISCONNECT = 'docker network disconnect --force "$NETWORK" "$CONTAINER" 2>/dev/null || true';
