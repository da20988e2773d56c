'use strict';
/*
 * Loads a LuCI JS class file in node the way LuCI's L.require() does:
 * the leading 'use strict' / 'require NAME [as ALIAS]' string statements
 * name the dependencies, and the file body becomes the body of a factory
 * function(window, document, L, dep1, dep2, ...) whose return value is
 * the class. `_` and `E` are globals in LuCI; here they are passed in.
 */
const fs = require('node:fs');
const path = require('node:path');

const APP = path.resolve(__dirname, '..');
const RESOURCES = path.join(APP, 'htdocs/luci-static/resources');

/* Same grammar as luci.js: require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))? */
const REQUIRE_RE = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;
const STRICT_RE = /^use[ \t]+strict$/;

/*
 * The dependency header of a class file: walks the leading string
 * statements like LuCI's loader and stops at the first other statement.
 */
function parseRequires(source) {
	const deps = [];
	const re = /\s*(?:\/\*[\s\S]*?\*\/|\/\/[^\n]*\n)*\s*(['"])((?:\\.|(?!\1).)*)\1\s*;?/y;
	let m;

	re.lastIndex = 0;
	while ((m = re.exec(source)) !== null) {
		const s = m[2];
		const r = REQUIRE_RE.exec(s);
		if (r)
			deps.push({ name: r[1], as: r[2] || r[1].replace(/[^a-zA-Z0-9_]/g, '_') });
		else if (!STRICT_RE.test(s))
			break;
	}

	return deps;
}

/* Path of a LuCI class name below htdocs/luci-static/resources. */
function classPath(name) {
	return path.join(RESOURCES, name.replace(/\./g, '/') + '.js');
}

/*
 * Evaluate a class file. `deps` maps each required class name to the
 * instance to inject; `globals` supplies `_`, `E`, `L`, window, document.
 * Returns whatever the factory returned.
 */
function evalClassFile(file, deps, globals) {
	const source = fs.readFileSync(file, 'utf8');
	const reqs = parseRequires(source);
	const g = Object.assign({ window: {}, document: {}, L: {}, _: (s) => s, E: undefined }, globals || {});
	const names = [ 'window', 'document', 'L', '_', 'E' ].concat(reqs.map((r) => r.as));
	const args = [ g.window, g.document, g.L, g._, g.E ].concat(reqs.map((r) => {
		if (!(r.name in deps))
			throw new Error(file + " requires '" + r.name + "' but the test supplied no instance for it");
		return deps[r.name];
	}));

	const factory = new Function(...names, source + '\n//# sourceURL=' + file);
	return factory.apply(null, args);
}

/*
 * Test double for LuCI.baseclass: only what class modules use at load
 * time, `extend(properties)` returning a constructor whose prototype has
 * the properties. (The real one adds super() and friends.)
 */
const baseclass = {
	extend(props) {
		function Class() {}
		Class.prototype = Object.assign(Object.create(null), props);
		Class.extend = baseclass.extend;
		return Class;
	}
};

/*
 * Load nftoffload/logic.js as LuCI would: the factory must return a class
 * (a constructor), which LuCI then instantiates once.
 */
function loadLogic(translate) {
	const Class = evalClassFile(classPath('nftoffload.logic'), { baseclass }, { _: translate || ((s) => s) });
	if (typeof Class !== 'function')
		throw new Error('nftoffload/logic.js did not return a class');
	return new Class();
}

module.exports = { APP, RESOURCES, parseRequires, classPath, evalClassFile, baseclass, loadLogic };
