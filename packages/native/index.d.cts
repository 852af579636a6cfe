// The addon's exports are typed, one by one, in @iomux/core's src/native.ts.
declare const addon: unknown;
export = addon;
