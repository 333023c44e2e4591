// Checks Kubernetes manifests against the Kubernetes API's schema, offline:
//   node tests/k8s/validate.mjs FILE...
// Two views of the same OpenAPI definitions, both from npm packages that
// `make deps` installs (tests/k8s/package.json):
//  - kubernetes-models (and its Prometheus operator CRDs): each object
//    through the API's JSON schema: types, required fields, enums, formats;
//  - @kubernetes/client-node's models: every field name must be one the
//    API has, at every depth (the JSON schema lets unknown fields pass, and
//    the API server would drop them: a misspelt "privilegd: true" would go
//    unseen). CRDs have no such models: the schema alone checks them.
// Prints each problem as FILE: KIND/NAME: PATH: what; exits 1 if any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import yaml from "js-yaml";

const require = createRequire(import.meta.url);
const k8s = require("@kubernetes/client-node");

// kubernetes-models' module of an apiVersion and kind.
function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com")
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

// client-node's model class name of an apiVersion and kind (V1DaemonSet), or null.
function clientModel(apiVersion, kind) {
  const version = apiVersion.split("/").pop();
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  return typeof k8s[name]?.getAttributeTypeMap === "function" ? k8s[name] : null;
}

// Every field of value (of client-node type `type`) is the API's; problems go to out.
function strictFields(value, type, path, out) {
  if (value === null || value === undefined) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (!Array.isArray(value)) return; // the schema check says it
    value.forEach((v, i) => strictFields(v, m[1], `${path}[${i}]`, out));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    for (const [k, v] of Object.entries(value)) strictFields(v, m[1], `${path}.${k}`, out);
    return;
  }
  const model = k8s[type];
  if (typeof model?.getAttributeTypeMap !== "function" || typeof value !== "object") return;
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) out.push(`${path}.${k}: no such field in ${type}`);
    else strictFields(v, fields.get(k), `${path}.${k}`, out);
  }
}

let problems = 0;
for (const file of process.argv.slice(2)) {
  const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d !== null);
  if (docs.length === 0) {
    console.log(`${file}: no object in it`);
    problems++;
  }
  for (const doc of docs) {
    const where = `${file}: ${doc?.kind}/${doc?.metadata?.name}`;
    const out = [];
    if (!doc?.apiVersion || !doc?.kind) {
      console.log(`${file}: an object without apiVersion and kind`);
      problems++;
      continue;
    }
    let Model;
    try {
      Model = require(modelPath(doc.apiVersion, doc.kind))[doc.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      console.log(`${where}: ${doc.apiVersion} ${doc.kind} is no kind of the Kubernetes API or the Prometheus operator's`);
      problems++;
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (e) {
      out.push(`schema: ${e.message}`);
    }
    const client = clientModel(doc.apiVersion, doc.kind);
    if (client) strictFields(doc, client.name, "", out);
    for (const p of out) console.log(`${where}: ${p}`);
    problems += out.length;
    if (out.length === 0) console.log(`${where}: ok${client ? "" : " (schema only: a CRD)"}`);
  }
}
process.exit(problems ? 1 : 0);
