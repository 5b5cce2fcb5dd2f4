#!/usr/bin/env node
// tests/k8s_validate.js SENT_DIR - every object the "kubernetes" agent
// sent in tests/builtin/check_kubernetes (one JSON file each in SENT_DIR)
// against Kubernetes' published schemas, and what the agent promises of
// them (tests/k8s_objects.sh runs it).
//
// Each object is checked by the model class of its apiVersion and kind
// from the npm package kubernetes-models, whose validate() holds it to
// the API's OpenAPI schema (types, enums, required fields).  Those
// schemas do not close objects, so the properties below name each field
// they require: a misspelt one fails them.
//
// Prints "ok - what" or "not ok - what" for each check; exits 1 when any
// failed.  NODE_PATH names the node_modules holding kubernetes-models.
'use strict';

const fs = require('fs');
const path = require('path');
const assert = require('assert');

const [dir] = process.argv.slice(2);
if (!dir) {
	console.error('usage: k8s_validate.js SENT_DIR');
	process.exit(2);
}

let failed = 0;

function check(what, fn) {
	try {
		fn();
		console.log(`ok - ${what}`);
	} catch (e) {
		failed++;
		console.log(`not ok - ${what}: ${e.message.split('\n')[0]}`);
	}
}

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// What the agent promises of each kind, beyond the schema.
const promises = {
	Secret(o) {
		assert.strictEqual(o.type, 'Opaque');
		assert.deepStrictEqual(Object.keys(o.data), ['prompt']);
		Buffer.from(o.data.prompt, 'base64');
		assert.ok(o.metadata.annotations['afk.dev/run']);
	},
	Job(o) {
		const pod = o.spec.template.spec;
		const c = pod.containers[0];
		assert.ok(dns1123.test(o.metadata.name) && o.metadata.name.length <= 63,
			'the name is a DNS-1123 label');
		assert.strictEqual(o.metadata.labels['app.kubernetes.io/managed-by'], 'afk');
		assert.ok(o.metadata.annotations['afk.dev/run']);
		assert.strictEqual(o.spec.backoffLimit, 0);
		assert.ok(Number.isInteger(o.spec.activeDeadlineSeconds));
		assert.ok(Number.isInteger(o.spec.ttlSecondsAfterFinished));
		assert.strictEqual(pod.restartPolicy, 'Never');
		assert.strictEqual(typeof pod.automountServiceAccountToken, 'boolean');
		assert.ok(!c.stdin, 'no stdin');
		const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
		assert.strictEqual(env.AFK_PROMPT_FILE.value, '/afk/prompt');
		for (const k of ['AFK_REPO', 'AFK_ISSUE', 'AFK_TURN'])
			assert.ok(typeof env[k].value === 'string', k);
		for (const e of c.env)
			assert.ok(e.name.startsWith('AFK_') ? 'value' in e :
				e.valueFrom && e.valueFrom.secretKeyRef && !('value' in e),
				`${e.name} is a secret reference, never a value`);
		const vol = pod.volumes.find((v) => v.name === 'prompt');
		assert.strictEqual(vol.secret.secretName, o.metadata.name);
		assert.ok(c.volumeMounts.some((m) => m.name === 'prompt' &&
			m.mountPath === '/afk' && m.readOnly === true));
	},
	SelfSubjectAccessReview(o) {
		const a = o.spec.resourceAttributes;
		for (const k of ['namespace', 'verb', 'resource'])
			assert.ok(typeof a[k] === 'string' && a[k], k);
	},
};

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
check('the agent sent objects', () => assert.ok(files.length > 0));
const kinds = new Set();
for (const f of files) {
	const o = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
	check(`${f}: ${o.apiVersion}/${o.kind} against its schema`, () => {
		const mod = require(`kubernetes-models/${o.apiVersion}/${o.kind}`);
		const Model = mod[o.kind] || mod.default;
		new Model(o).validate();
	});
	check(`${f}: what the agent promises of a ${o.kind}`, () => {
		assert.ok(promises[o.kind], `an unexpected kind ${o.kind}`);
		promises[o.kind](o);
	});
	kinds.add(o.kind);
}
check('a Job, a Secret and a SelfSubjectAccessReview were checked', () =>
	assert.deepStrictEqual([...kinds].sort(),
		['Job', 'Secret', 'SelfSubjectAccessReview']));
process.exit(failed ? 1 : 0);
