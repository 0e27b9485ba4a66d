'use strict';
// The station's metrics as docs/fleet.md "Device model" lists them (name, datatype, and
// the fixed aliases the document gives).
const CMDS = ['Start', 'Stop', 'Hold', 'Unhold', 'Suspend', 'Unsuspend', 'Abort', 'Clear', 'Reset', 'Retire Pack', 'Return Pack'];
const node = [
  ['bdSeq', 'UInt64', 100],
  ['Node Control/Rebirth', 'Boolean', 101],
  ...CMDS.slice(0, 9).map((c, i) => ['Node Control/' + c, 'Boolean', 120 + i]),
  ['Node Control/Retire Pack', 'String', 129],
  ['Node Control/Return Pack', 'String', 130],
  ['Station/State', 'String'], ['Station/Mode', 'String'], ['Station/Swaps', 'UInt64'],
  ['Station/Swaps per Hour', 'Double'], ['Station/On Pad Mean s', 'Double'],
  ['Station/Alarms Active', 'Int32'], ['Station/Alarm Codes', 'String'], ['Station/Plant Link', 'String'],
  ['Fleet/Spool Depth', 'UInt64'], ['Fleet/Spool Dropped', 'UInt64'], ['Fleet/Pack Query', 'String'],
  ['Node Control/Pack Estimates', 'String'],
  ['Command/Last Seq', 'UInt64'], ['Command/Last Command', 'String'], ['Command/Last Request Id', 'String'],
  ['Command/Last Ok', 'Boolean'], ['Command/Last Result', 'String'],
  ['Event/Id', 'String', 110], ['Event/Type', 'String', 111], ['Event/Text', 'String', 112],
];
const devices = {
  robot: [['Step', 'String'], ['Step Index', 'Int32'], ['Serving Drone', 'Int32'], ['Last On Pad s', 'Double'],
    ...CMDS.slice(0, 9).map((c, i) => ['Device Control/' + c, 'Boolean', 140 + i])],
  magazine: [['Slots', 'Int32'], ['Slots Occupied', 'Int32'], ['Packs Ready', 'Int32'],
    ['Pool SoH Mean pct', 'Double'], ['Pool SoH Min pct', 'Double'], ['Packs', 'DataSet'],
    ['Device Control/Retire Pack', 'String', 149], ['Device Control/Return Pack', 'String', 150]],
  dronelink: [['Drones Seen', 'Int32'], ['Queue Length', 'Int32'], ['Link', 'String']],
};
const PACKS_COLUMNS = ['Battery', 'Location', 'Status', 'SoH pct', 'EFC', 'Capacity mAh', 'DCIR mOhm'];
module.exports = { node, devices, PACKS_COLUMNS };
