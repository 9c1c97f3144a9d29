/** The text behind a patient's `name_dob_hash`: the full name, case and spacing folded, and the birth date. */
export const nameDobKey = (fullName: string, dateOfBirth: string) => `${fullName.trim().toLowerCase().replace(/\s+/g, ' ')}|${dateOfBirth}`;
