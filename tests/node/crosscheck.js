// Independent MAVLink peer for the codec cross-check (tests/integration/test_mav_crosscheck.c).
// Reads requests, one JSON object per line, from the file named by the first argument and
// answers each with one JSON line on stdout, then prints {"done":true}. Requests:
//   {"op":"info"}                         -> {"known":[msgid...]} of the ids asked for in "ids"
//   {"op":"decode","hex":H,"key":K?}      -> {"packets":[{header, fields, signature...}]}
//   {"op":"encode","msgid":N,"sysid":S,"compid":C,"seq":Q,"fields":{xml_name: value},
//    "v1":bool?, "sign":{"key":K,"link_id":L,"unix_ms":T}?} -> {"hex":H}
// Field names are the XML names, as the station's codec prints them.
'use strict';

const fs = require('fs');
let mav;
try {
  mav = require('node-mavlink');
} catch (e) {
  console.log(JSON.stringify({ fatal: 'node-mavlink is not installed: run npm install --prefix tests/node (' + e.message + ')' }));
  process.exit(1);
}
const { minimal, common, MavLinkPacketSplitter, MavLinkPacketParser,
        MavLinkProtocolV1, MavLinkProtocolV2 } = mav;
const REGISTRY = { ...minimal.REGISTRY, ...common.REGISTRY };

function fieldsOf(clazz, data) {
  const out = {};
  for (const f of clazz.FIELDS) {
    const v = data[f.name];
    out[f.source] = typeof v === 'bigint' ? Number(v) : v;
  }
  return out;
}

async function decode(req) {
  const splitter = new MavLinkPacketSplitter();
  const parser = splitter.pipe(new MavLinkPacketParser());
  const packets = [];
  parser.on('data', (p) => packets.push(p));
  const ended = new Promise((resolve) => parser.on('end', resolve));
  splitter.end(Buffer.from(req.hex, 'hex'));
  await ended;
  const key = req.key ? Buffer.from(req.key, 'hex') : null;
  return {
    packets: packets.map((p) => {
      const h = p.header;
      const clazz = REGISTRY[h.msgid];
      const out = {
        version: h.magic === MavLinkProtocolV2.START_BYTE ? 2 : 1,
        len: h.payloadLength, incompat_flags: h.incompatibilityFlags || 0,
        seq: h.seq, sysid: h.sysid, compid: h.compid, msgid: h.msgid,
        name: clazz ? clazz.MSG_NAME : null,
        fields: clazz ? fieldsOf(clazz, p.protocol.data(p.payload, clazz)) : null,
        signed: !!p.signature,
      };
      if (p.signature) {
        out.link_id = p.signature.linkId;
        out.timestamp = p.signature.timestamp;
        if (key) out.signature_ok = p.signature.matches(key);
      }
      return out;
    }),
    invalid: splitter.invalidPackages,
    unknown: splitter.unknownPackagesCount,
  };
}

function encode(req) {
  const clazz = REGISTRY[req.msgid];
  if (!clazz) return { error: 'message ' + req.msgid + ' unknown to node-mavlink' };
  const msg = new clazz();
  for (const f of clazz.FIELDS) {
    if (req.fields && f.source in req.fields) msg[f.name] = req.fields[f.source];
  }
  if (req.v1) {
    return { hex: new MavLinkProtocolV1(req.sysid, req.compid).serialize(msg, req.seq).toString('hex') };
  }
  if (req.sign) {
    const proto = new MavLinkProtocolV2(req.sysid, req.compid, MavLinkProtocolV2.IFLAG_SIGNED);
    const unsigned = proto.serialize(msg, req.seq);
    const signed = proto.sign(unsigned, req.sign.link_id, Buffer.from(req.sign.key, 'hex'),
                              req.sign.unix_ms);
    return { hex: signed.toString('hex') };
  }
  return { hex: new MavLinkProtocolV2(req.sysid, req.compid).serialize(msg, req.seq).toString('hex') };
}

async function main() {
  const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.trim());
  for (const line of lines) {
    let reply;
    try {
      const req = JSON.parse(line);
      if (req.op === 'info') reply = { known: req.ids.filter((id) => REGISTRY[id]) };
      else if (req.op === 'decode') reply = await decode(req);
      else if (req.op === 'encode') reply = encode(req);
      else reply = { error: 'unknown op ' + req.op };
    } catch (e) {
      reply = { error: String(e && e.message) };
    }
    console.log(JSON.stringify(reply));
  }
  console.log(JSON.stringify({ done: true }));
}

main().catch((e) => {
  console.log(JSON.stringify({ fatal: String(e && e.stack) }));
  process.exit(1);
});
