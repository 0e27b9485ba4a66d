// Independent Sparkplug B peer for the station's payload cross-check
// (tests/integration/test_spb_crosscheck.c), on the npm package sparkplug-payload.
//   node spb_crosscheck.js decode FILE   -> the payload in FILE as JSON
//   node spb_crosscheck.js encode FILE   -> writes a payload to FILE, prints what it holds
// 64-bit integers are printed as decimal strings so no precision is lost in JSON.
'use strict';
const fs = require('fs');
const Long = require('long');
const spb = require('sparkplug-payload').get('spBv1.0');

function plain(v) {
    if (Long.isLong(v)) return v.toString();
    if (typeof v === 'bigint') return v.toString();
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
        const o = {};
        for (const k of Object.keys(v)) o[k] = plain(v[k]);
        return o;
    }
    return v;
}

const [mode, file] = process.argv.slice(2);
if (mode === 'decode') {
    const p = spb.decodePayload(fs.readFileSync(file));
    process.stdout.write(JSON.stringify(plain(p)) + '\n');
} else if (mode === 'encode') {
    const ts = Long.fromString('1700000000000', true);
    const payload = {
        timestamp: ts,
        seq: 17,
        metrics: [
            { name: 'bdSeq', alias: 100, type: 'UInt64', value: Long.fromString('3', true), timestamp: ts },
            { name: 'Station/State', alias: 1, type: 'String', value: 'Held', timestamp: ts },
            { name: 'Station/Swaps', alias: 3, type: 'UInt64', value: Long.fromString('18446744073709551000', true) },
            { name: 'Station/Alarms Active', alias: 6, type: 'Int32', value: -7 },
            { name: 'small', type: 'Int8', value: -100 },
            { name: 'i64', type: 'Int64', value: Long.fromString('-5000000000') },
            { name: 'Station/On Pad Mean s', type: 'Double', value: 41.125 },
            { name: 'f', type: 'Float', value: 0.5 },
            { name: 'Node Control/Rebirth', alias: 101, type: 'Boolean', value: true },
            { name: 'Event/Text', type: 'String', value: 'drone 10 cleared for take-off', isHistorical: true },
            { name: 'Event/Type', type: 'String', value: null },
            { name: 'magazine/Packs', type: 'DataSet', value: {
                // sparkplug-payload 1.0.3 cannot decode Int32 DataSet cells (its getDataSetValue
                // lacks them), so the table keeps to the column types the station sends.
                numOfColumns: 3, columns: ['Battery', 'Location', 'SoH pct'], types: ['String', 'String', 'Double'],
                rows: [['SWP-5A000001', 'slot 1', 97.5], ['SWP-5A000002', 'drone', 88.25]] } },
        ],
    };
    fs.writeFileSync(file, spb.encodePayload(payload));
    process.stdout.write(JSON.stringify(plain(payload)) + '\n');
} else {
    process.stderr.write('usage: spb_crosscheck.js decode|encode FILE\n');
    process.exit(2);
}
