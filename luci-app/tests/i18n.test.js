'use strict';
/*
 * Every user-visible string is translatable: each _() in the JS has a
 * literal argument and a msgid in po/templates/nftoffload.pot, and the
 * .pot has no msgid the sources no longer use.
 * Fix a failure with: node luci-app/tests/i18n.js --write
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { POT, collect, generate, potMsgids, scanSource, unescapeJs } = require('./i18n');

const FIX = ' (regenerate with: node luci-app/tests/i18n.js --write)';

test('the extractor finds literals, unescapes them and flags non-literals', () => {
	const found = scanSource([
		"a = _('It\\'s \"x\"');",
		'b = _("two\\nlines", "ctx");',
		'c = _(name);',
		"d = foo_('not a call of _');",
		"e = x._('method, not the global');",
		"f = _( 'spaced' )"
	].join('\n'));

	assert.deepEqual(found, [
		{ msgid: 'It\'s "x"', line: 1 },
		{ msgid: 'two\nlines', line: 2 },
		{ error: 'non-literal argument to _()', line: 3 },
		{ msgid: 'spaced', line: 6 }
	]);
	assert.equal(unescapeJs('\\u2192\\x41\\\\'), '→A\\');
});

test('every _() call has a literal argument', () => {
	assert.deepEqual(collect().errors, []);
});

test('every _() string of the JS is a msgid of the .pot', () => {
	const pot = new Set(potMsgids(fs.readFileSync(POT, 'utf8')));
	const missing = [ ...collect().entries.keys() ].filter((id) => !pot.has(id));
	assert.deepEqual(missing, [], 'strings missing from the .pot' + FIX);
});

test('the .pot has no stale msgids', () => {
	const used = collect().entries;
	const stale = potMsgids(fs.readFileSync(POT, 'utf8')).filter((id) => !used.has(id));
	assert.deepEqual(stale, [], 'msgids no source uses' + FIX);
});

test('the .pot is exactly what the generator writes (sorted, references current)', () => {
	assert.equal(fs.readFileSync(POT, 'utf8'), generate(), 'the .pot is out of date' + FIX);
});

test('the page has strings to translate, including the menu title', () => {
	const ids = collect().entries;
	assert.ok(ids.size > 40);
	assert.ok(ids.has('Flow Offloading'));
	assert.ok(ids.has('Hardware offload not possible: %s'));
});
