/**
 * EFR.USSup (features.userSupervisor; docs/spec-readings.md reg 2.3, reg 5.4): guest-table
 * U/S bits are checked against user-mode requests only when the IOMMU advertises
 * user/supervisor protection. Without it, no request fails for U/S = 0 (R/W still applies).
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench, LongModeTable, Gcr3Table } from "../../src/builders/index.js";

const DEV = 0x30, PASID = 7, GVA = 0x7f00_0000_0000;

function rig(userSupervisor: boolean, iotlb: number) {
  const tb = new IommuTestbench({ bytes: 16 * 1024 * 1024, iommu: { features: { userSupervisor }, iotlb: { entries: iotlb } } });
  const g = new LongModeTable(tb.memory, tb.pages, 4);
  const data = tb.pages.alloc();
  g.map(GVA, data, { user: false, writable: false });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(PASID, g.root);
  tb.deviceTable.set(DEV, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 3, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root });
  tb.sync();
  return { tb, data };
}

describe("user/supervisor protection follows EFR.USSup", () => {
  for (const iotlb of [0, 64]) {
    it(`advertised: a user-mode request to a U/S = 0 page faults with US (IOTLB ${iotlb ? "on" : "off"}); a privileged one passes`, () => {
      const { tb, data } = rig(true, iotlb);
      expect(tb.iommu.mmioRead64(0x30) & (1n << 37n)).not.toBe(0n);
      expect(tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID, privileged: true }).spa).toBe(data);
      const usr = tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID });
      expect(usr.fault).toBe("user-supervisor");
    });

    it(`not advertised: the same user-mode request is served, cached or not (IOTLB ${iotlb ? "on" : "off"}), and R/W is still enforced`, () => {
      const { tb, data } = rig(false, iotlb);
      expect(tb.iommu.mmioRead64(0x30) & (1n << 37n)).toBe(0n);
      for (let i = 0; i < 2; i++) {
        const r = tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID });
        expect([r.ok, r.spa, r.fault]).toEqual([true, data, null]);
      }
      expect(tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID, write: true }).fault).toBe("permission");
      expect(tb.events()).toHaveLength(1); // the write's permission fault, nothing for U/S
    });
  }
});
