// A hello's rooms applied to the page's store and timelines (docs/protocol.md, "hello"):
// rooms gone since the last one (left or banned while away) are dropped, except the room
// shown, which stays to say why; every timeline held resumes from what the hello says.

export function helloRooms(frame, { store, timelines, current }) {
  const entries = Array.isArray(frame.rooms) ? frame.rooms : [];
  for (const slug of store.applyHello(entries)) {
    const room = store.get(slug);
    if (slug === current) {
      if (room) room.lost = "left";
    } else {
      store.rooms.delete(slug);
      timelines.delete(slug);
    }
  }
  const joined = [];
  for (const info of entries) {
    if (!info || typeof info.slug !== "string") continue;
    joined.push(info.slug);
    const timeline = timelines.get(info.slug);
    if (timeline) timeline.onHello(info.resumed, Number(info.last_seq) || 0);
  }
  return joined;
}
